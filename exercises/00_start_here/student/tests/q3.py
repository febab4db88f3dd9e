from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_brightness_returns_a_float(env):
    import numpy as np
    from ftlab.checks import call, expect_function, expect_type
    brightness = expect_function('brightness', env, params=1)
    images = np.full((2, 4, 4, 3), 100, dtype=np.uint8)
    value = call(brightness, images, name='brightness')
    expect_type(value, float, 'brightness(images)')

