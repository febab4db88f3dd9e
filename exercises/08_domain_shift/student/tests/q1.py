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

