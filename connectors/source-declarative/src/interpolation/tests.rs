//! Each expectation here was printed by airbyte-cdk 7.39.1's `JinjaInterpolation` for the
//! same template and context.

use serde_json::{Value, json};

use super::{Context, Interpolated};

fn config() -> Value {
    json!({
        "start_date": "2024-01-05T00:00:00Z", "ids": ["a", "b"], "n": "10",
        "nested": {"k": null},
        "credentials": {"auth_type": "apikey", "apikey": "abc-us6"},
    })
}

fn eval_in(template: &str, ctx: &Context) -> Value {
    Interpolated::new(template, "test")
        .unwrap()
        .eval(ctx)
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn eval(template: &str) -> Value {
    eval_in(template, &Context::new(&config()))
}

#[test]
fn results_read_back_as_python_literals() {
    let cases = [
        ("{{ config['ids'] }}", json!(["a", "b"])),
        ("{{ config['n'] }}", json!(10)),
        ("{{ config.get('missing') }}", Value::Null),
        ("{{ config.get('missing', 'dflt') }}", json!("dflt")),
        ("{{ config['nested'] }}", json!({"k": null})),
        (
            "{{ config['credentials']['apikey'].split('-')[-1] }}",
            json!("us6"),
        ),
        ("{{ 'x' if config['n'] == '10' else 'y' }}", json!("x")),
        (
            "{{ config.get('missing') or 'fallback' }}",
            json!("fallback"),
        ),
        ("{{ not {} }}", json!(true)),
        ("{{ 1.5 * 2 }}", json!(3.0)),
        ("{{ 7 // 2 }}|{{ 7 / 2 }}", json!("3|3.5")),
        ("{{ ','.join(config['ids']) }}", json!("a,b")),
        ("{{ config['ids'] | join(',') }}", json!("a,b")),
        ("{{ config['ids'] | length }}", json!(2)),
        ("{{ 'abc'.upper() }}", json!("ABC")),
        ("{{ config['n'] | int + 1 }}", json!(11)),
        ("{{ none }}", Value::Null),
        ("{{ config.missing }}", Value::Null),
        ("plain text", json!("plain text")),
        ("42", json!(42)),
    ];
    for (template, want) in cases {
        assert_eq!(eval(template), want, "{template}");
    }
}

#[test]
fn macros_match_the_cdk() {
    let cases = [
        (
            "{{ format_datetime(config['start_date'], '%Y-%m-%d') }}",
            json!("2024-01-05"),
        ),
        (
            "{{ format_datetime('2024-01-05', '%s') }}",
            json!(1704412800),
        ),
        (
            "{{ format_datetime(1704412800, '%Y-%m-%dT%H:%M:%SZ') }}",
            json!("2024-01-05T00:00:00Z"),
        ),
        (
            "{{ timestamp('2024-01-05T00:00:00Z') }}",
            json!(1704412800.0),
        ),
        ("{{ timestamp(1704412800.7) }}", json!(1704412800)),
        ("{{ max(1, 5, 3) }}", json!(5)),
        ("{{ min(['b', 'a']) }}", json!("a")),
        (
            "{{ str_to_datetime('2024-01-05') }}",
            json!("2024-01-05 00:00:00+00:00"),
        ),
        (
            "{{ str_to_datetime('2024-01-05T10:00:00+02:00').strftime('%Y-%m-%dT%H:%M:%S%z') }}",
            json!("2024-01-05T08:00:00+0000"),
        ),
        ("{{ duration('P1D') }}", json!("1 day, 0:00:00")),
        ("{{ day_delta(1, '%Y') | int > 2000 }}", json!(true)),
        ("{{ now_utc().year > 2000 }}", json!(true)),
    ];
    for (template, want) in cases {
        assert_eq!(eval(template), want, "{template}");
    }
}

#[test]
fn filters_match_the_cdk() {
    let cases = [
        (
            "{{ 'abc' | hash('md5') }}",
            json!("900150983cd24fb0d6963f7d28e17f72"),
        ),
        (
            "{{ 'abc' | hash('sha256', 'salt') }}",
            json!("169b3a2b0977ebee2eb1fd392c6aa470a3281d439ff32f20baea7309d7f40eec"),
        ),
        ("{{ 'user:pass' | base64encode }}", json!("dXNlcjpwYXNz")),
        ("{{ 'dXNlcjpwYXNz' | base64decode }}", json!("user:pass")),
        (
            "{{ 'https://x/?page_token=abc123&x=1' | regex_search('page_token=([^&]+)') }}",
            json!("abc123"),
        ),
        (
            "{{ 'a-b-c' | regex_replace('-(\\\\w)', '_\\\\1') }}",
            json!("a_b_c"),
        ),
        ("{{ {'a': 1} | string }}", json!("{\"a\": 1}")),
        ("{{ 5 | string }}", json!("5")),
    ];
    for (template, want) in cases {
        assert_eq!(eval(template), want, "{template}");
    }
}

#[test]
fn the_context_has_the_cdks_variables_and_aliases() {
    let ctx = Context::new(&config())
        .with("stream_slice", &json!({"id": 7}))
        .with("parameters", &json!({"name": "users"}))
        .with("next_page_token", &json!({"next_page_token": 2}))
        .with("response", &json!({"pagination": {}}));
    assert_eq!(
        eval_in(
            "{{ stream_partition.id }}-{{ stream_interval['id'] }}",
            &ctx
        ),
        json!("7-7")
    );
    assert_eq!(eval_in("{{ parameters['name'] }}", &ctx), json!("users"));
    assert_eq!(
        eval_in("{{ next_page_token['next_page_token'] }}", &ctx),
        json!(2)
    );
    assert_eq!(
        eval_in("{{ response.get('pagination', {}).get('next', {}) }}", &ctx),
        json!({})
    );
}

#[test]
fn unknown_variables_stream_state_and_bad_syntax_are_errors_naming_the_path() {
    let e = Interpolated::new("{{ foo }}", "streams[0].retriever.requester.path")
        .unwrap()
        .eval(&Context::new(&config()))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("streams[0].retriever.requester.path: the expression \"{{ foo }}\" uses the variable \"foo\""), "{e}");
    let e = Interpolated::new("{{ stream_state.updated_at }}", "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("stream_interval"), "{e}");
    let e = Interpolated::new("{{ config[ }}", "definitions.requester.url_base")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("definitions.requester.url_base: the expression"),
        "{e}"
    );
    assert!(
        Interpolated::new("{{ range(3) }}", "x")
            .unwrap()
            .eval(&Context::new(&config()))
            .is_err()
    );
}

#[test]
fn an_undefined_result_takes_the_default_and_strings_default_to_themselves() {
    let ctx = Context::new(&config());
    let t = Interpolated::new("{{ config['nested']['missing']['deeper'] }}", "x").unwrap();
    let d = Interpolated::new("fallback", "x").unwrap();
    assert_eq!(t.eval_or(&ctx, &d).unwrap(), json!("fallback"));
    assert_eq!(t.eval(&ctx).unwrap(), Value::Null);
    let s = Interpolated::new("{{ config['missing'] }}", "x").unwrap();
    assert_eq!(s.eval_string_value(&ctx).unwrap(), json!(""));
    let s = Interpolated::new("{{ config.get('nope') }}", "x").unwrap();
    assert_eq!(s.eval_string_value(&ctx).unwrap(), Value::Null);
}

#[test]
fn booleans_follow_the_cdks_false_values() {
    let ctx = Context::new(&config());
    for (template, want) in [
        ("{{ 0 }}", false),
        ("{{ 'false' }}", false),
        ("{{ [] }}", false),
        ("{{ 'x' }}", true),
        ("{{ config.get('nope') }}", false),
        ("{{ 2 > 1 }}", true),
        ("{{ none }}", false),
        ("{{ 0.0 }}", false),
    ] {
        let got = Interpolated::new(template, "x")
            .unwrap()
            .eval_bool(&ctx)
            .unwrap();
        assert_eq!(got, want, "{template}");
    }
}
