from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_n_features_is_an_int(env):
    from ftlab.checks import expect_defined, expect_type
    expect_type(expect_defined('n_features', env), int, 'n_features')

@test_case(points=None, hidden=True)
def test_n_features_value(env):
    from ftlab.checks import expect_defined, expect_equal, expect_model
    body = expect_model(expect_defined('body', env), 'body')
    expect_equal(env.get('n_features'), body.output_shape[-1], 'n_features')
    expect_equal(env.get('n_features'), 128, 'n_features')

