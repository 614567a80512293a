//! What a panic said: the message of the panic a thread is unwinding from, for the run it
//! fails, and of a panic of the main thread, for the exit handler.

use std::cell::RefCell;
use std::panic;

use crate::process::{Process, lock};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Chains a hook before the program's own panic hook that remembers each panic's message.
pub(crate) fn install_hook(process: &'static Process) {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let mut message = format!("panicked: {}", payload_text(info.payload()));
        if let Some(at) = info.location() {
            message.push_str(&format!(" (at {}:{})", at.file(), at.line()));
        }
        if std::thread::current().name() == Some("main") {
            *lock(&process.main_panic) = Some(message.clone());
        }
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(message));
        previous(info);
    }));
}

/// The message of the panic this thread is unwinding from, if the hook saw it.
pub(crate) fn panic_message() -> String {
    LAST_PANIC
        .with(|p| p.borrow().clone())
        .unwrap_or_else(|| String::from("the thread panicked"))
}

/// The text of a panic payload.
pub fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("panic with a non-text payload")
    }
}
