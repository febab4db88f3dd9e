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

