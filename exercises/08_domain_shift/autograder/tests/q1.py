from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_accuracy_by_style_has_every_style(env):
    from ftlab.checks import expect_defined, expect_in_range, expect_type
    result = expect_type(expect_defined('accuracy_by_style', env), dict, 'accuracy_by_style')
    assert list(result) == ['day', 'dusk', 'night', 'fog'], f'keys {list(result)}; expected the styles in order: day, dusk, night, fog'
    for style, value in result.items():
        expect_in_range(value, 0.0, 1.0, f'accuracy_by_style[{style!r}]')

@test_case(points=None, hidden=True)
def test_accuracy_by_style_values(env):
    from ftlab.checks import expect_close, expect_defined
    result = expect_defined('accuracy_by_style', env)
    accuracy_on = expect_defined('accuracy_on', env)
    model = expect_defined('day_model', env)
    for style in ['day', 'night']:
        value = result.get(style)
        expect_close(value, accuracy_on(model, style), f'accuracy_by_style[{style!r}]')
    assert result['night'] < result['day'], 'night should be harder than day'

