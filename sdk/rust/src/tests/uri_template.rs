//! RFC 6570 level-1 template parsing and matching.

use crate::Params;
use crate::uri_template::UriTemplate;

fn vars(template: &str, uri: &str) -> Option<Params> {
    UriTemplate::parse(template).unwrap().match_uri(uri)
}

#[test]
fn matches_and_extracts_variables() {
    assert_eq!(vars("notes://{day}", "notes://2025-01-31"), Some(Params::from_iter([("day", "2025-01-31")])));
    assert_eq!(
        vars("test://template/{id}/data", "test://template/123/data"),
        Some(Params::from_iter([("id", "123")]))
    );
    assert_eq!(
        vars("repo://{owner}/{name}/issues", "repo://a/b/issues"),
        Some(Params::from_iter([("owner", "a"), ("name", "b")]))
    );
    // Backtracking over a literal that also occurs inside the value.
    assert_eq!(vars("f://{name}.txt", "f://a.b.txt"), Some(Params::from_iter([("name", "a.b")])));
    assert_eq!(vars("plain://fixed", "plain://fixed"), Some(Params::new()));
}

#[test]
fn rejects_non_matching_uris() {
    assert_eq!(vars("notes://{day}", "notes://"), None, "a variable is never empty");
    assert_eq!(vars("notes://{day}", "notes://a/b"), None, "a variable stops at /");
    assert_eq!(vars("notes://{day}", "notes://a?x=1"), None);
    assert_eq!(vars("notes://{day}", "memo://a"), None);
    assert_eq!(vars("t://{id}/data", "t://1/data/more"), None);
}

#[test]
fn percent_decodes_values() {
    assert_eq!(
        vars("q://{term}", "q://caf%C3%A9%20au%20lait"),
        Some(Params::from_iter([("term", "café au lait")]))
    );
    assert_eq!(vars("q://{term}", "q://100%"), Some(Params::from_iter([("term", "100%")])));
}

#[test]
fn variables_in_order() {
    let t = UriTemplate::parse("x://{a}/{b.c}/{d_1}").unwrap();
    assert_eq!(t.vars().collect::<Vec<_>>(), ["a", "b.c", "d_1"]);
}

#[test]
fn rejects_templates_beyond_level_1() {
    for bad in [
        "x://{+a}",
        "x://{#a}",
        "x://{?q}",
        "x://{a,b}",
        "x://{a}{b}",
        "x://{a",
        "x://a}",
        "x://{}",
        "x://{a}/{a}",
        "x://{a b}",
    ] {
        assert!(UriTemplate::parse(bad).is_err(), "{bad} should be rejected");
    }
}
