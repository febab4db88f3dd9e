from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_truck_accuracy_is_a_fraction(env):
    from ftlab.checks import expect_defined, expect_in_range
    expect_in_range(expect_defined('truck_accuracy', env), 0.0, 1.0, 'truck_accuracy')
    history = expect_defined('history', env)
    epochs = len(getattr(history, 'epoch', []))
    assert epochs == 15, f'`history` has {epochs} epochs, expected 15 (the return value of fit)'

@test_case(points=None, hidden=True)
def test_truck_model_learned_trucks_with_a_frozen_body(env):
    import numpy as np
    from ftlab import vehicles
    from ftlab.checks import expect_defined, expect_in_range, expect_model
    truck = expect_model(expect_defined('truck_model', env), 'truck_model')
    car = expect_model(expect_defined('car_model', env), 'car_model')
    x, y = vehicles.splits(['car', 'truck'], train=1, val=0, test=100, seed=7)['test']
    accuracy = float(np.mean(truck.predict(x, verbose=0).argmax(axis=1) == y))
    expect_in_range(accuracy, 0.85, 1.0, 'the accuracy on new test pictures')
    kernel = truck.get_layer('car_backbone').get_layer('block4_conv2').kernel.numpy()
    original = car.get_layer('car_backbone').get_layer('block4_conv2').kernel.numpy()
    assert np.allclose(kernel, original), 'the body changed in training: it should be frozen'

