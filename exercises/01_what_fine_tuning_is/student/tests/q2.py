from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_predict_classes_returns_one_int_per_picture(env):
    import numpy as np
    from ftlab.checks import call, expect_defined, expect_function, expect_shape, expect_type
    predict_classes = expect_function('predict_classes', env, params=2)
    model = expect_defined('car_model', env)
    images = np.zeros((3, 32, 32, 3), dtype='float32')
    result = expect_type(call(predict_classes, model, images), np.ndarray, 'the result')
    expect_shape(result, (3,), 'predict_classes(model, images)')
    assert np.issubdtype(result.dtype, np.integer), f'predict_classes should return class numbers (integers), got dtype {result.dtype}'

