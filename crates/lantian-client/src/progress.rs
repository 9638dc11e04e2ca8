//! How `lantian-field sync` shows its work: two bars (mutations, photo bytes) on a terminal, a
//! plain line per step (a pushed batch, a photo, a pulled page) otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lantian_client::{Client, Progress};

/// What was attached; [`Shown::finish`] clears the bars.
pub(crate) struct Shown {
    bars: Option<(ProgressBar, ProgressBar)>,
}

impl Shown {
    pub(crate) fn finish(self) {
        if let Some((a, b)) = self.bars {
            a.finish_and_clear();
            b.finish_and_clear();
        }
    }
}

/// Reports `client`'s progress on standard error.
pub(crate) fn attach(client: &Client) -> Shown {
    if std::io::stderr().is_terminal() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = |template: &str| {
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        let mutations = multi.add(ProgressBar::new(0));
        mutations.set_style(style("sending  {bar:30} {pos}/{len} mutations {msg}"));
        let bytes = multi.add(ProgressBar::new(0));
        bytes.set_style(style("photos   {bar:30} {bytes}/{total_bytes} {msg}"));
        let (m, b) = (mutations.clone(), bytes.clone());
        client.on_progress(move |p| match p {
            Progress::Pushed { done, total } => {
                m.set_length(*total);
                m.set_position(*done);
            }
            Progress::PhotoBytes { sent, total } => {
                b.set_length(*total);
                b.set_position(*sent);
            }
            Progress::PhotosDone { done, total } => {
                b.set_message(format!("({done}/{total} photos)"))
            }
            Progress::Pulled { changes } => m.set_message(format!("received {changes} changes")),
        });
        return Shown {
            bars: Some((mutations, bytes)),
        };
    }
    // Not a terminal: a line per step, never per chunk.
    let last = Arc::new(Mutex::new(None::<Progress>));
    client.on_progress(move |p| {
        if matches!(p, Progress::PhotoBytes { .. }) {
            return;
        }
        if let Ok(mut l) = last.lock() {
            if l.as_ref() == Some(p) {
                return;
            }
            *l = Some(p.clone());
        }
        match p {
            Progress::Pushed { done, total } => eprintln!("sent {done} of {total} mutations"),
            Progress::PhotosDone { done, total } => eprintln!("photo {done} of {total} done"),
            Progress::Pulled { changes } => eprintln!("received {changes} changes"),
            Progress::PhotoBytes { .. } => {}
        }
    });
    Shown { bars: None }
}
