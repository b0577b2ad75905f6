//! `fingerprint --help`

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = fingerprint_cli::Cli::parse();
    let mut stdout = std::io::stdout();
    if let Err(error) = fingerprint_cli::run(cli, &mut stdout).await {
        eprintln!("fingerprint: {error}");
        std::process::exit(error.exit_code());
    }
}
