from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_chosen_lr_is_a_plausible_rate(env):
    from ftlab.checks import expect_defined, expect_in_range
    rate = expect_defined('chosen_lr', env)
    expect_in_range(rate, 1e-06, 0.1, 'chosen_lr', hint='A tenth of lr_result.minimum.')

@test_case(points=None, hidden=True)
def test_chosen_lr_comes_from_the_range_test(env):
    from ftlab.checks import expect_close, expect_defined, expect_type
    from ftlab.lr_finder import LRFinderResult
    result = expect_type(expect_defined('lr_result', env), LRFinderResult, 'lr_result')
    assert len(result.lrs) >= 50, f'the test ran {len(result.lrs)} steps; use steps=100'
    expected = result.minimum / 10
    expect_close(env.get('chosen_lr'), expected, 'chosen_lr', tol=expected * 1e-06)

