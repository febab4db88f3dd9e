from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_n_features_is_an_int(env):
    from ftlab.checks import expect_defined, expect_type
    expect_type(expect_defined('n_features', env), int, 'n_features')

