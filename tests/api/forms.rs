//! The dashboard as a browser without JavaScript sees it: forms posted with
//! their CSRF token, cookies kept, redirects not followed.

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::{PASSWORD, TestApp};

/// A browser without JavaScript: follows no redirect by itself, keeps cookies.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Vec<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, String, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.app.base));
        if !self.cookies.is_empty() {
            request = request.header(COOKIE, self.cookies.join("; "));
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.unwrap();
        for cookie in response.headers().get_all(SET_COOKIE) {
            let pair = cookie
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, response.text().await.unwrap())
    }

    pub async fn get(&mut self, path: &str) -> (u16, String, String) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        self.send(Method::POST, path, Some(form)).await
    }
}

impl<'a> Browser<'a> {
    /// A new account through the signup form, logged in.
    pub async fn signed_up(app: &'a TestApp, email: &str) -> Browser<'a> {
        Browser::through(app, "/signup", email).await
    }

    /// An existing account, logged in through the login form.
    pub async fn logged_in(app: &'a TestApp, email: &str) -> Browser<'a> {
        Browser::through(app, "/login", email).await
    }

    /// A new account with a cluster `name` made from the dashboard: the
    /// browser, the organization's home, a form token and the cluster's page.
    pub async fn with_cluster(
        app: &'a TestApp,
        email: &str,
        name: &str,
    ) -> (Browser<'a>, String, String, String) {
        let mut browser = Browser::signed_up(app, email).await;
        let (_, home, _) = browser.get("/").await;
        let (_, _, overview) = browser.get(&home).await;
        let token = csrf(&overview);
        let page = browser.create_cluster(&home, &token, name).await;
        (browser, home, token, page)
    }

    async fn through(app: &'a TestApp, path: &str, email: &str) -> Browser<'a> {
        let mut browser = Browser::new(app);
        let (_, _, form) = browser.get(path).await;
        let (status, _, _) = browser
            .post(
                path,
                &[
                    ("csrf", &csrf(&form)),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, 303, "{path} as {email}");
        browser
    }
}

/// The value of the first `name="csrf"` field on a page.
pub fn csrf(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

impl Browser<'_> {
    /// Invites `email` with `role` from the members page of the
    /// organization at `home`: the answer's status and page.
    pub async fn invite(&mut self, home: &str, email: &str, role: &str) -> (u16, String) {
        let (_, _, members) = self.get(&format!("{home}/members")).await;
        let (status, _, page) = self
            .post(
                &format!("{home}/invitations"),
                &[("csrf", &csrf(&members)), ("email", email), ("role", role)],
            )
            .await;
        (status, page)
    }
}

/// The invitation link a page shows once.
pub fn invitation_link(page: &str) -> String {
    page.split(r#"data-testid="invitation-link">"#)
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

impl Browser<'_> {
    /// Creates a one-node cluster `name` from the organization page at
    /// `home` (`token` is its form token); the cluster page's path.
    pub async fn create_cluster(&mut self, home: &str, token: &str, name: &str) -> String {
        let (status, page, _) = self
            .post(
                &format!("{home}/clusters"),
                &[
                    ("csrf", token),
                    ("name", name),
                    ("region", crate::helpers::REGION),
                    ("nodes", "1"),
                ],
            )
            .await;
        assert_eq!(status, 303, "creating {name}");
        page
    }
}
