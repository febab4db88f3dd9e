from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_baseline_numbers_are_fractions(env):
    from ftlab.checks import expect_defined, expect_in_range
    expect_in_range(expect_defined('baseline_accuracy', env), 0.0, 1.0, 'baseline_accuracy')
    value = expect_defined('baseline_truck_recall', env)
    expect_in_range(value, 0.0, 1.0, 'baseline_truck_recall')

