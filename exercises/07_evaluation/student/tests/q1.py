from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_truck_scores_are_fractions(env):
    from ftlab.checks import expect_defined, expect_in_range
    expect_in_range(expect_defined('truck_recall', env), 0.0, 1.0, 'truck_recall')
    expect_in_range(expect_defined('truck_precision', env), 0.0, 1.0, 'truck_precision')

