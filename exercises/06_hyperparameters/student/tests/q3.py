from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_best_setting_is_in_the_grid(env):
    from ftlab.checks import expect_defined, expect_type
    setting = expect_type(expect_defined('best_setting', env), tuple, 'best_setting')
    grid = expect_defined('grid', env)
    assert setting in grid, f'{setting} is not a key of `grid`; keys: {list(grid)}'

