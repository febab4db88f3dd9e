from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 3

@test_case(points=None, hidden=False)
def test_stage2_unfroze_the_body_but_not_batchnorm(env):
    from ftlab import trainable_report
    from ftlab.checks import expect_defined, expect_model
    model = expect_model(expect_defined('manual', env), 'manual')
    rows = [r for r in trainable_report(model).rows if r.params > 0]
    bn = [r.name for r in rows if r.type == 'BatchNormalization' and r.trainable]
    assert not bn, f'BatchNormalization layers would train: {bn[:3]}... Use ftlab.unfreeze.'
    frozen = [r.name for r in rows if r.type != 'BatchNormalization' and (not r.trainable)]
    assert not frozen, f'these layers should train in stage 2 but are frozen: {frozen[:3]}'

@test_case(points=None, hidden=False)
def test_stage2_continues_the_epochs(env):
    from ftlab.checks import expect_defined
    stage2 = expect_defined('stage2', env)
    epochs = list(getattr(stage2, 'epoch', []))
    assert epochs == [8, 9, 10, 11, 12], f'`stage2.epoch` is {epochs}, expected [8, 9, 10, 11, 12]: fit(..., initial_epoch=8, epochs=13)'

@test_case(points=None, hidden=True)
def test_stage2_learning_rate(env):
    import keras
    from ftlab.checks import expect_close, expect_defined, expect_model
    model = expect_model(expect_defined('manual', env), 'manual')
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    expect_close(rate, 0.0001, 'the learning rate of stage 2', tol=1e-09)
    x_test, y_test = (expect_defined('x_test', env), expect_defined('y_test', env))
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    assert accuracy >= 0.85, f'test accuracy after stage 2 is only {accuracy:.2f}'

