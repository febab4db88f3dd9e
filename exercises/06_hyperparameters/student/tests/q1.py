from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_chosen_lr_is_a_plausible_rate(env):
    from ftlab.checks import expect_defined, expect_in_range
    rate = expect_defined('chosen_lr', env)
    expect_in_range(rate, 1e-06, 0.1, 'chosen_lr', hint='A tenth of lr_result.minimum.')

