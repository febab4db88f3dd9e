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

@test_case(points=None, hidden=True)
def test_schedule_warms_up_for_one_epoch_and_ends_near_zero(env):
    from ftlab.checks import expect_defined
    schedule = expect_defined('schedule', env)
    peak = expect_defined('chosen_lr', env)
    steps = expect_defined('steps_per_epoch', env)
    top = float(schedule(steps))
    assert abs(top - peak) <= 0.001 * peak, f'after one epoch ({steps} steps) the rate is {top:.2e}, expected the peak {peak:.2e}'
    assert float(schedule(0)) < 0.5 * peak, 'the schedule does not warm up'
    end = float(schedule(8 * steps - 1))
    assert end < 0.05 * peak, f'at the last step the rate is still {end:.2e}: count all steps'

