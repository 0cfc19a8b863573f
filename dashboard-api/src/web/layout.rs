//! The page shell: head, navigation, flash message and the stylesheet.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use uuid::Uuid;

/// The stylesheet: small, no build step, readable on a phone.
const CSS: &str = r#"
:root { --fg: #1b1f24; --muted: #57606a; --line: #d8dee4; --accent: #0b5fff; --bad: #b42318; --ok: #1a7f37; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--bg); }
header a { color: var(--fg); text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: .75rem; flex: 1; }
header form { margin: 0; }
main { max-width: 64rem; margin: 0 auto; padding: 1.25rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
table { width: 100%; border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
form.stack { display: grid; gap: .6rem; max-width: 28rem; }
label { display: grid; gap: .2rem; font-weight: 600; }
label small { font-weight: 400; color: var(--muted); }
input, select, button { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: .4rem; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
button.link { background: none; color: var(--accent); border: none; padding: 0; }
:focus-visible { outline: 3px solid #80a8ff; outline-offset: 2px; }
/* Out of sight until a keyboard user reaches it: the first Tab on every page. */
.skip { position: absolute; left: -999px; top: .5rem; padding: .4rem .6rem; background: #fff; color: var(--accent); border-radius: .4rem; }
.skip:focus { left: .5rem; z-index: 1; }
.notice { padding: .6rem .8rem; border-radius: .4rem; background: #fff8c5; border: 1px solid #d4a72c; margin: 0 0 1rem; }
.error { background: #ffebe9; border-color: var(--bad); }
.secret { font-family: ui-monospace, monospace; word-break: break-all; background: var(--bg); padding: .5rem; border-radius: .4rem; }
.phase { display: inline-block; padding: 0 .5rem; border-radius: 1rem; background: var(--bg); border: 1px solid var(--line); }
.phase.Ready { color: var(--ok); border-color: var(--ok); }
.phase.Suspended, .phase.Degraded { color: var(--bad); border-color: var(--bad); }
pre { background: var(--bg); padding: .75rem; border-radius: .4rem; overflow-x: auto; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
figure { margin: 0; } figure svg { max-width: 30rem; display: block; }
.charts { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
code, .secret { overflow-wrap: anywhere; }
/* The admin console: its own links, search bars, pagers and action forms. */
nav.tabs, nav.pager { display: flex; flex-wrap: wrap; gap: .75rem; align-items: baseline; margin: 0 0 1rem; }
nav.pager p { margin: 0; }
form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin: 0 0 1rem; }
.actions { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); }
.actions form { display: grid; gap: .5rem; align-content: start; padding: .75rem; border: 1px solid var(--line); border-radius: .4rem; }
label:has(input[type=checkbox]) { display: block; font-weight: 400; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
@media (max-width: 40rem) {
  th, td { padding: .3rem; }
  header { padding: .5rem; }
  /* Wide tables scroll inside themselves, not the page. */
  table { display: block; overflow-x: auto; }
  main { padding: .75rem; }
}
"#;

/// Who is looking, for the navigation.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub email: String,
    pub organization: Option<(Uuid, String)>,
    /// Every organization the person belongs to, for the switcher.
    pub organizations: Vec<(Uuid, String)>,
    pub admin: bool,
    pub csrf: String,
}

pub fn page(title: &str, viewer: Option<&Viewer>, notice: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Quartermaster" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    a href="/" { strong { "Quartermaster" } }
                    @if let Some(viewer) = viewer {
                        nav aria-label="Main" {
                            @if let Some((id, name)) = &viewer.organization {
                                @if viewer.organizations.len() > 1 {
                                    details {
                                        summary { (name) }
                                        ul aria-label="Switch organization" {
                                            @for (other, other_name) in &viewer.organizations {
                                                li { a href={ "/orgs/" (other) } { (other_name) } }
                                            }
                                        }
                                    }
                                } @else {
                                    span { (name) }
                                }
                                a href={ "/orgs/" (id) } { "Clusters" }
                                a href={ "/orgs/" (id) "/endpoints" } { "Endpoints" }
                                a href={ "/orgs/" (id) "/api-keys" } { "API keys" }
                                a href={ "/orgs/" (id) "/usage" } { "Usage" }
                                a href={ "/orgs/" (id) "/billing" } { "Billing" }
                                a href={ "/orgs/" (id) "/members" } { "Members" }
                                a href={ "/orgs/" (id) "/webhooks" } { "Webhooks" }
                                a href={ "/orgs/" (id) "/audit-log" } { "Audit log" }
                            }
                            @if viewer.admin {
                                a href="/admin" { "Admin" }
                            }
                        }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button class="link" type="submit" { "Log out " (viewer.email) }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    @if let Some(notice) = notice {
                        p class="notice" role="status" { (notice) }
                    }
                    (body)
                }
            }
        }
    }
}
