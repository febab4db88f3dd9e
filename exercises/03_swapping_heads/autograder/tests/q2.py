from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 3

@test_case(points=None, hidden=False)
def test_truck_model_has_a_trainable_two_class_head(env):
    from ftlab import trainable_report
    from ftlab.checks import expect_defined, expect_model
    model = expect_model(expect_defined('truck_model', env), 'truck_model')
    assert model.output_shape == (None, 2), f'`truck_model` outputs {model.output_shape}; the new task has 2 classes'
    training = [r.name for r in trainable_report(model).rows if r.trainable]
    assert training == ['new_head'], f'these layers of `truck_model` would train: {training}; only `new_head` should'

@test_case(points=None, hidden=True)
def test_car_model_is_untouched(env):
    from ftlab.checks import expect_defined, expect_model
    car = expect_model(expect_defined('car_model', env), 'car_model')
    truck = expect_model(expect_defined('truck_model', env), 'truck_model')
    assert car.output_shape == (None, 9), '`car_model` should still have its 9-class head'
    shared = {id(v) for v in car.weights} & {id(v) for v in truck.weights}
    assert not shared, '`truck_model` shares weights with `car_model`: build it with ftlab.swap_head, which copies the body'
    assert car.trainable_weights, '`car_model` was frozen: freeze `truck_model` only'

