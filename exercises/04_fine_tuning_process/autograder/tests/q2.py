from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_aggressive_drop_is_a_number(env):
    from ftlab.checks import expect_defined, expect_in_range
    drop = expect_defined('aggressive_drop', env)
    expect_in_range(drop, -1.0, 1.0, 'aggressive_drop', hint='Use the `.drop` of forgetting.')

@test_case(points=None, hidden=True)
def test_aggressive_forgot_more(env):
    from ftlab import forgetting
    from ftlab.car_to_truck import old_task_model
    from ftlab.checks import expect_close, expect_defined, expect_model
    car = expect_model(expect_defined('car_model', env), 'car_model')
    aggressive = expect_model(expect_defined('aggressive', env), 'aggressive')
    old_data, classes = (expect_defined('old_data', env), expect_defined('classes', env))
    result = forgetting(car, old_task_model(aggressive, car), old_data, classes)
    expect_close(expect_defined('aggressive_drop', env), result.drop, 'aggressive_drop', tol=1e-06)
    assert result.drop > expect_defined('gentle', env).drop + 0.1, f'`aggressive` lost only {result.drop:.2f}: train it as the question says'

