//! Issue 12: a `CHAT` costs at most two heap allocations in the worker
//! (its two frames), with the envelope and payload parsed borrowing from
//! the message and the text kept in the room's ring. Counted with a
//! counting global allocator around `App::handle`, the whole worker path
//! (parse → state → two frames), on the thread that runs it.

mod common;

use std::sync::Arc;

use common::counting::{
    Counting, assert_counting_sees_this_threads_allocations, counting, reset_tally, tally,
};
use duet::app::App;
use duet::app::blocklist::Blocklist;
use duet::app::hub::QueueRequest;
use duet::app::room::room_id_str;
use duet::app::sockets::Sockets;
use duet::base::addr::ClientAddr;
use duet::base::clock::Clock;
use duet::base::id::ConnId;
use duet::link::command::Command;
use duet::link::outbox::{self, Inbox, Out};
use duet::metrics::Metrics;
use duet::store::memory::MemoryStore;
use duet::store::{Mood, Profile, UserId};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Two users in one room; the sender's socket is open and authenticated
/// on this (the worker's) side.
struct Room {
    app: App,
    inbox: Inbox,
    sockets: Sockets,
    sender: ConnId,
    room: String,
    /// Kept alive: the outbox's waker is registered with it.
    _poll: mio::Poll,
}

fn room(store_messages: bool) -> Room {
    let poll = mio::Poll::new().expect("poll");
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
    let (out, inbox) = outbox::channel(waker);
    let mut cfg = duet::Config::for_tests();
    cfg.store_messages = store_messages;
    let app = App::new(
        &cfg,
        Arc::new(MemoryStore::new()),
        out,
        Arc::new(Metrics::default()),
        Clock::new(),
        Blocklist::empty(),
        None,
    );
    let (a, b) = (ConnId::new(1, 1), ConnId::new(2, 1));
    let profile = Arc::new(Profile {
        nickname: "Ana".into(),
        mood: Mood::Chill,
        avatar: "🦦".into(),
        interests: Box::new([]),
        created_at: 0,
        last_seen_at: 0,
    });
    let room = {
        let ctx = app.ctx();
        let mut hub = app.hub();
        for (conn, user) in [(a, UserId(1)), (b, UserId(2))] {
            hub.attach(conn, user, profile.clone(), 0);
            let req = QueueRequest { mood: Mood::Chill, random_mode: false, interests: Box::new([]) };
            hub.join(user, req, None, &ctx).expect("queued");
        }
        room_id_str(hub.room_of(UserId(1)).expect("paired"))
    };
    while inbox.rx.try_recv().is_ok() {}
    let mut sockets = Sockets::default();
    sockets.open(a, ClientAddr::default());
    sockets.get(a).expect("opened").authed = true;
    Room { app, inbox, sockets, sender: a, room, _poll: poll }
}

/// Allocations `App::handle` makes for one `CHAT` of `text`, once the
/// room's ring has grown (the first messages of a room grow it).
fn allocations_per_chat(r: &mut Room, text: &str) -> usize {
    let msg = json!({"type":"CHAT","id":"c1","payload":{"roomId": r.room,"text": text}}).to_string();
    for _ in 0..300 {
        r.app.handle(Command::Text { conn: r.sender, text: msg.as_str().into() }, &mut r.sockets);
        while r.inbox.rx.try_recv().is_ok() {}
    }
    let cmd = Command::Text { conn: r.sender, text: msg.as_str().into() };
    reset_tally();
    counting(true, || r.app.handle(cmd, &mut r.sockets));
    let allocs = tally().allocs;
    let frames: Vec<Out> = std::iter::from_fn(|| r.inbox.rx.try_recv().ok()).collect();
    assert_eq!(frames.len(), 2, "the partner's CHAT and the sender's CHAT_ACK: {frames:?}");
    allocs
}

#[test]
fn a_chat_costs_at_most_two_allocations_in_the_worker() {
    assert_counting_sees_this_threads_allocations();
    let mut r = room(false);
    let n = allocations_per_chat(&mut r, "hello there, how is your evening? ünïcödé 🦊");
    eprintln!("a CHAT: {n} allocations in the worker");
    assert!(n <= 2, "a CHAT cost {n} allocations in the worker");
}

#[test]
fn a_long_chat_costs_no_more_than_a_short_one() {
    let mut r = room(false);
    let n = allocations_per_chat(&mut r, &"long text with words ".repeat(90));
    assert!(n <= 2, "a 1,800-byte CHAT cost {n} allocations in the worker");
}

#[test]
fn storing_the_text_costs_one_more() {
    let mut r = room(true);
    let n = allocations_per_chat(&mut r, "kept in the database");
    assert!(n <= 3, "with --store-messages a CHAT cost {n} allocations in the worker");
}
