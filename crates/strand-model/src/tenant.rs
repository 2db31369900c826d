use std::fmt;
use std::sync::Arc;

/// The tenant every request belongs to when multi-tenancy is off, as in Tempo.
pub const SINGLE_TENANT: &str = "single-tenant";

const MAX_TENANT_LENGTH: usize = 150;

/// Why a tenant ID was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// No tenant was given where one is required.
    #[error("no org id")]
    Missing,
    /// The tenant ID is longer than 150 bytes.
    #[error("tenant ID is too long: max 150 characters")]
    TooLong,
    /// The tenant ID holds a character outside the allowed set.
    #[error("tenant ID '{tenant}' contains unsupported character '{character}'")]
    BadCharacter {
        /// The tenant ID as given.
        tenant: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// `.` and `..` would escape a folder in object storage.
    #[error("tenant ID is '.' or '..'")]
    Dots,
}

/// A validated tenant ID, safe to use as a path segment in object storage.
///
/// The rules are Tempo's (dskit): at most 150 bytes of ASCII letters, digits and `!-_.*'()`,
/// and never `.` or `..`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates a tenant ID.
    pub fn new(text: &str) -> Result<TenantId, TenantError> {
        if text.is_empty() {
            return Err(TenantError::Missing);
        }
        if text.len() > MAX_TENANT_LENGTH {
            return Err(TenantError::TooLong);
        }
        if text == "." || text == ".." {
            return Err(TenantError::Dots);
        }
        if let Some(character) = text.chars().find(|c| !is_allowed(*c)) {
            return Err(TenantError::BadCharacter { tenant: text.to_string(), character });
        }
        Ok(TenantId(Arc::from(text)))
    }

    /// The tenant used when multi-tenancy is off.
    pub fn single() -> TenantId {
        TenantId(Arc::from(SINGLE_TENANT))
    }

    /// The tenant ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_cannot_escape_their_folder() {
        assert!(TenantId::new("team-a_1.prod").is_ok());
        assert_eq!(TenantId::new(".."), Err(TenantError::Dots));
        assert_eq!(TenantId::new(""), Err(TenantError::Missing));
        assert!(matches!(TenantId::new("a/b"), Err(TenantError::BadCharacter { character: '/', .. })));
        assert!(matches!(TenantId::new("tenant#123"), Err(TenantError::BadCharacter { .. })));
        assert!(matches!(TenantId::new("a|b"), Err(TenantError::BadCharacter { .. })));
        assert_eq!(TenantId::new(&"a".repeat(151)), Err(TenantError::TooLong));
        assert!(TenantId::new(&"a".repeat(150)).is_ok());
    }
}
