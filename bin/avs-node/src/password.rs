//! Keystore passwords: from an environment variable, a file, or an interactive prompt, as
//! EigenLayer's operator tooling takes them. Passwords are held in [`Zeroizing`] strings and
//! never logged; [`PasswordSource`]'s `Display` names the source, never the secret.

use std::{fmt, path::PathBuf};
use zeroize::Zeroizing;

/// Where a password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The named environment variable.
    Env(&'static str),
    /// The first line of a file.
    File(PathBuf),
    /// Asked on the terminal.
    Prompt,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "${var}"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Prompt => f.write_str("prompt"),
        }
    }
}

impl PasswordSource {
    /// A password file given as a flag, else `env_var` if set, else a password file from the
    /// config file, else a prompt.
    pub fn resolve(
        flag_file: Option<PathBuf>,
        env_var: &'static str,
        config_file: Option<PathBuf>,
    ) -> Self {
        if let Some(path) = flag_file {
            Self::File(path)
        } else if std::env::var_os(env_var).is_some() {
            Self::Env(env_var)
        } else if let Some(path) = config_file {
            Self::File(path)
        } else {
            Self::Prompt
        }
    }

    /// Reads the password; `what` names the key in prompts and errors. Blocking (file read or
    /// terminal): call it from `spawn_blocking` inside the runtime.
    pub fn read(&self, what: &str) -> eyre::Result<Zeroizing<String>> {
        match self {
            Self::Env(var) => std::env::var(var).map(Zeroizing::new).map_err(|_| {
                eyre::eyre!("${var} is not set or not UTF-8: export the {what} password in it")
            }),
            Self::File(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    eyre::eyre!(
                        "cannot read the {what} password file {} ({e}): check the path",
                        path.display()
                    )
                })?);
                // Files written with `echo` end in a newline that is not part of the password.
                Ok(Zeroizing::new(
                    text.lines().next().unwrap_or_default().to_owned(),
                ))
            }
            Self::Prompt => prompt(&format!("{what} password: ")),
        }
    }

    /// Reads a new password, asking twice when prompting so a typo does not lock the key away.
    pub fn read_new(&self, what: &str) -> eyre::Result<Zeroizing<String>> {
        if *self != Self::Prompt {
            return self.read(what);
        }
        let first = prompt(&format!("new {what} password: "))?;
        let second = prompt(&format!("repeat the {what} password: "))?;
        if first != second {
            eyre::bail!("the passwords differ: run the command again");
        }
        Ok(first)
    }
}

fn prompt(text: &str) -> eyre::Result<Zeroizing<String>> {
    rpassword::prompt_password(text).map(Zeroizing::new).map_err(|e| {
        eyre::eyre!("cannot prompt for a password ({e}): no terminal? pass a password file or set the password environment variable")
    })
}
