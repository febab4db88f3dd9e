from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_only_the_head_trains(env):
    from ftlab.checks import expect_defined, expect_model
    model = expect_model(expect_defined('model', env), 'model')
    training = [layer.name for layer in model.layers if layer.trainable_weights]
    assert training == ['head'], f'these layers of `model` would train: {training}; only `head` should. Use ftlab.freeze(model), then ftlab.unfreeze(model, last=1).'

