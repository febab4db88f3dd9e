from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_parameter_counts_are_ints(env):
    from ftlab.checks import expect_defined, expect_type
    expect_type(expect_defined('n_params', env), int, 'n_params')
    expect_type(expect_defined('n_head_params', env), int, 'n_head_params')

