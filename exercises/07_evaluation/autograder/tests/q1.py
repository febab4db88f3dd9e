from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_truck_scores_are_fractions(env):
    from ftlab.checks import expect_defined, expect_in_range
    expect_in_range(expect_defined('truck_recall', env), 0.0, 1.0, 'truck_recall')
    expect_in_range(expect_defined('truck_precision', env), 0.0, 1.0, 'truck_precision')

@test_case(points=None, hidden=True)
def test_truck_scores_values(env):
    from ftlab.checks import expect_close, expect_defined
    evaluation = expect_defined('evaluation', env)
    recall, precision = (float(evaluation.recall[1]), float(evaluation.precision[1]))
    hint = 'recall divides by the row (true trucks), precision by the column (said truck)'
    expect_close(env.get('truck_recall'), recall, 'truck_recall', tol=1e-06, hint=hint)
    expect_close(env.get('truck_precision'), precision, 'truck_precision', tol=1e-06, hint=hint)

