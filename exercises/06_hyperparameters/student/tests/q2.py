from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_steps_per_epoch(env):
    from ftlab.checks import expect_defined, expect_equal, expect_type
    steps = expect_type(expect_defined('steps_per_epoch', env), int, 'steps_per_epoch')
    expected = -(-len(expect_defined('x_train', env)) // 8)
    expect_equal(steps, expected, 'steps_per_epoch', hint='ceil(pictures / batch size)')

