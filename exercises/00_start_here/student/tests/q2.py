from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_small_dataset_shape(env):
    import numpy as np
    from ftlab.checks import expect_defined, expect_shape, expect_type
    x_small = expect_type(expect_defined('x_small', env), np.ndarray, 'x_small')
    expect_shape(x_small, (24, 32, 32, 3), 'x_small')
    y_small = expect_type(expect_defined('y_small', env), np.ndarray, 'y_small')
    expect_shape(y_small, (24,), 'y_small')

