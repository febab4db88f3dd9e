from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_selected_is_a_candidate(env):
    from ftlab.checks import expect_defined, expect_in_range, expect_type
    selected = expect_type(expect_defined('selected', env), str, 'selected')
    candidates = expect_defined('candidates', env)
    assert selected in candidates, f'{selected!r} is not one of {list(candidates)}'
    expect_in_range(expect_defined('reported_accuracy', env), 0.0, 1.0, 'reported_accuracy')

@test_case(points=None, hidden=True)
def test_selected_on_validation_reported_on_test(env):
    from ftlab.checks import expect_close, expect_defined, expect_equal
    val = expect_defined('val_accuracy', env)
    test = expect_defined('test_accuracy', env)
    best = max(val, key=val.get)
    expect_equal(env.get('selected'), best, 'selected', hint='Choose by validation accuracy.')
    expect_close(env.get('reported_accuracy'), test[best], 'reported_accuracy', tol=1e-09)

