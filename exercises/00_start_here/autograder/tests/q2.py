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

@test_case(points=None, hidden=True)
def test_small_dataset_trucks(env):
    import numpy as np
    from ftlab import vehicles
    from ftlab.checks import expect_defined, expect_equal, expect_type
    y_small = expect_type(expect_defined('y_small', env), np.ndarray, 'y_small')
    n_trucks = expect_type(expect_defined('n_trucks', env), int, 'n_trucks')
    expect_equal(n_trucks, 12, 'n_trucks')
    _, y_expected = vehicles.make_images(['car', 'truck'], n_per_class=12, seed=42)
    expect_equal(y_small, y_expected, 'y_small', hint='Use seed=SEED and the classes in order.')

