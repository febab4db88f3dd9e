from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 3

@test_case(points=None, hidden=False)
def test_only_early_convolutions_train(env):
    from ftlab import trainable_report
    from ftlab.checks import expect_defined, expect_model
    model = expect_model(expect_defined('early_model', env), 'early_model')
    training = [r.name.split('/')[-1] for r in trainable_report(model).rows if r.trainable]
    expected = ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2']
    assert training == expected, f'these layers train: {training}; expected {expected}'

