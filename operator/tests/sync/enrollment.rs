//! Enrollment: the token from the chart's file is exchanged once, the
//! credential kept in a Secret and used as bearer; a token used before
//! ends the command with the control plane's word for it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use operator::sync::{CREDENTIAL_KEY, CREDENTIAL_SECRET, CredentialError, SyncError};

use super::{OPERATOR_NS, Plane, eventually};

#[tokio::test]
async fn the_token_is_exchanged_once_and_the_credential_kept_in_a_secret() {
    let plane = Plane::new().await;
    let running = plane.start(plane.config());
    let secret = eventually("the credential's Secret", || {
        plane.api.get::<Secret>(OPERATOR_NS, CREDENTIAL_SECRET)
    })
    .await;
    let kept = secret.data.unwrap()[CREDENTIAL_KEY].0.clone();
    let issued = plane.cp.lock().credentials.clone();
    assert_eq!(issued.len(), 1);
    assert_eq!(String::from_utf8(kept).unwrap(), issued[0]);
    // The stand-in answers a poll only with a credential it issued.
    eventually("a desired-state poll", || {
        (!plane.cp.lock().polls.is_empty()).then_some(())
    })
    .await;
    assert!(plane.cp.lock().tokens.values().all(|used| *used));
    running.stop().await.unwrap();

    // Started again: the kept credential, no second enrollment.
    let again = plane.start(plane.config());
    plane.settled().await;
    assert_eq!(plane.cp.lock().credentials.len(), 1);
    again.stop().await.unwrap();
}

#[tokio::test]
async fn a_used_token_ends_the_loop_with_the_control_planes_detail() {
    let first = Plane::new().await;
    let running = first.start(first.config());
    first.settled().await;
    running.stop().await.unwrap();

    // Another data plane (no Secret) with the same token.
    let second = Plane::with(first.cp.clone()).await;
    let ended = second.start(second.config()).ended().await;
    let Err(SyncError::Credential(CredentialError::Refused { detail })) = &ended else {
        panic!("refused, not {ended:?}");
    };
    assert_eq!(detail, "this enrollment token was already used");
    assert!(
        second
            .api
            .get::<Secret>(OPERATOR_NS, CREDENTIAL_SECRET)
            .is_none()
    );
}

#[tokio::test]
async fn the_command_exits_non_zero_with_one_line_naming_the_refusal() {
    let first = Plane::new().await;
    let running = first.start(first.config());
    first.settled().await;
    running.stop().await.unwrap();

    let second = Plane::with(first.cp.clone()).await;
    let address = second.address;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        kubeconfig.path(),
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: 'http://{address}'}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n"
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_quartermaster-operator"))
        .args([
            "sync",
            "--control-plane",
            &second.cp.url(),
            "--namespace",
            OPERATOR_NS,
        ])
        .arg("--enrollment-token-file")
        .arg(second.token_file())
        .env("KUBECONFIG", kubeconfig.path())
        .env_remove("POD_NAMESPACE")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("already used"))
        .collect();
    assert_eq!(
        lines,
        [
            "quartermaster-operator: enrollment refused by the control plane: this enrollment token was already used"
        ],
        "{stderr}"
    );
}

#[tokio::test]
async fn a_rotated_credential_is_kept_then_used() {
    let plane = Plane::new().await;
    let mut config = plane.config();
    config.rotate_after = Duration::from_millis(300);
    let _running = plane.start(config);
    let second = eventually("a rotation", || plane.cp.lock().credentials.get(1).cloned()).await;
    eventually("the new credential used", || {
        plane.cp.lock().bearers.contains(&second).then_some(())
    })
    .await;
    let kept = |plane: &Plane| {
        let secret = plane.api.get::<Secret>(OPERATOR_NS, CREDENTIAL_SECRET)?;
        String::from_utf8(secret.data?[CREDENTIAL_KEY].0.clone()).ok()
    };
    // Kept before it is used: each later credential is in the Secret by then.
    let issued = plane.cp.lock().credentials.clone();
    assert!(issued[1..].contains(&kept(&plane).unwrap()));
}
