//! The sync engine: admit -> plan -> guard are pure functions over values; [`run`] drives a
//! whole reconciliation with the provider and the directory at its edges.

pub mod admit;
pub mod confirm;
pub mod explain;
pub mod guard;
pub mod hold;
pub mod plan;
pub mod run;

pub use admit::{Desired, DesiredMember, DesiredTeam, OffboardReason, admit};
pub use guard::{GuardTrip, guard};
pub use plan::{
    Change, ChangeKind, Current, CurrentMember, CurrentTeam, Destructive, MembershipSource,
    MembershipState, Plan, Tally, Unconfirmed, plan,
};
