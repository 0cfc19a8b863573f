//! People: signup, login and browser sessions.

mod email;
mod password;
pub mod sessions;
mod users;

pub use email::Email;
pub use password::Password;
pub use users::{User, login, signup, user};
