from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_parameter_counts_are_ints(env):
    from ftlab.checks import expect_defined, expect_type
    expect_type(expect_defined('n_params', env), int, 'n_params')
    expect_type(expect_defined('n_head_params', env), int, 'n_head_params')

@test_case(points=None, hidden=True)
def test_parameter_counts(env):
    from ftlab import count_params
    from ftlab.checks import expect_defined, expect_equal, expect_model
    model = expect_model(expect_defined('car_model', env), 'car_model')
    expect_equal(env.get('n_params'), count_params(model).total, 'n_params')
    dense = model.get_layer('predictions')
    expect_equal(env.get('n_head_params'), dense.count_params(), 'n_head_params')

