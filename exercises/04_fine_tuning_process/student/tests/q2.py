from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_aggressive_drop_is_a_number(env):
    from ftlab.checks import expect_defined, expect_in_range
    drop = expect_defined('aggressive_drop', env)
    expect_in_range(drop, -1.0, 1.0, 'aggressive_drop', hint='Use the `.drop` of forgetting.')

