//! Who a bearer token belongs to, asked of the apiserver with a TokenReview for the configured
//! audience (ServiceAccount tokens from the TokenRequest API, and OIDC tokens the apiserver is
//! configured to accept, both work). Does I/O: one `create tokenreviews` call.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::Client;
use kube::api::{Api, PostParams};

use super::{Identity, ReviewError};

/// The caller the token names, or why it names none (`Err(reason)`, for the 401 and the log).
pub async fn review(
    client: &Client,
    token: &str,
    audience: &str,
) -> Result<Result<Identity, String>, ReviewError> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_owned(),
            audiences: Some(vec![audience.to_owned()]),
        },
        ..TokenReview::default()
    };
    let answer = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|source| ReviewError::Api {
            review: "tokenreviews.authentication.k8s.io",
            source,
        })?;
    Ok(judge(answer.status.unwrap_or_default(), audience))
}

/// Authenticated, for our audience, with a user name: the identity; anything else: why not.
fn judge(status: TokenReviewStatus, audience: &str) -> Result<Identity, String> {
    if status.authenticated != Some(true) {
        return Err(status
            .error
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "the token is not valid".into()));
    }
    // The apiserver answers with the requested audiences the token is valid for.
    if !status
        .audiences
        .unwrap_or_default()
        .iter()
        .any(|a| a == audience)
    {
        return Err(format!("the token is not issued for audience {audience:?}"));
    }
    let user = status.user.unwrap_or_default();
    match user.username.filter(|u| !u.is_empty()) {
        Some(username) => Ok(Identity {
            username,
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default(),
        }),
        None => Err("the token names no user".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authentication::v1::UserInfo;

    fn status(
        authenticated: bool,
        audiences: &[&str],
        username: Option<&str>,
    ) -> TokenReviewStatus {
        TokenReviewStatus {
            authenticated: Some(authenticated),
            audiences: Some(audiences.iter().map(|a| (*a).to_owned()).collect()),
            user: Some(UserInfo {
                username: username.map(str::to_owned),
                groups: Some(vec!["system:authenticated".into()]),
                ..UserInfo::default()
            }),
            error: None,
        }
    }

    #[test]
    fn an_authenticated_token_for_the_audience_is_the_user() {
        let identity = judge(status(true, &["aud"], Some("alice")), "aud").unwrap();
        assert_eq!(identity.username, "alice");
        assert_eq!(identity.groups, ["system:authenticated"]);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let mut rejected = status(false, &[], None);
        rejected.error = Some("token has expired".into());
        assert_eq!(judge(rejected, "aud").unwrap_err(), "token has expired");
        assert!(
            judge(status(true, &["other"], Some("alice")), "aud")
                .unwrap_err()
                .contains("audience \"aud\"")
        );
        assert!(
            judge(status(true, &["aud"], None), "aud")
                .unwrap_err()
                .contains("no user")
        );
        assert!(judge(TokenReviewStatus::default(), "aud").is_err());
    }
}
