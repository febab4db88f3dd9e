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

@test_case(points=None, hidden=True)
def test_brightness_values(env):
    import numpy as np
    from ftlab.checks import call, expect_close, expect_defined, expect_function, expect_type
    brightness = expect_function('brightness', env, params=1)
    images = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    value = call(brightness, images, name='brightness')
    expect_close(value, float(images.mean()), 'brightness(images)', tol=0.001)
    darker = expect_type(expect_defined('night_is_darker', env), bool, 'night_is_darker')
    assert darker, '`night_is_darker` is False, but the night pictures are darker.'

