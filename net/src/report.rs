//! Error text with its causes. Many errors of the network stack say only what kind of failure
//! they are ("client error (Connect)") and leave what happened (a refused connection, a
//! certificate not trusted) to their causes.

/// `e` followed by each cause that adds to what is already said, joined by `": "`.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("quoting: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn causes_are_added_once() {
        let io = || std::io::Error::other("refused");
        assert_eq!(describe(&Outer(io())), "outer: refused");
        assert_eq!(describe(&Quoting(io())), "quoting: refused");
    }
}
