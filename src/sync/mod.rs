//! The sync engine, pure: admit -> plan -> guard (and the plan digest, the explanation) are
//! functions over values. [`crate::run`] drives a whole reconciliation with the provider and the
//! directory at its edges, and [`crate::run::confirm`] puts the plan's destructive verdicts
//! to the provider.

pub mod admit;
pub mod explain;
pub mod guard;
pub mod hold;
pub mod plan;

pub use admit::{Desired, DesiredMember, DesiredTeam, OffboardReason, admit};
pub use guard::{GuardTrip, guard};
pub use plan::{
    Change, ChangeKind, Current, CurrentMember, CurrentTeam, Destructive, MembershipSource,
    MembershipState, Plan, Tally, Unconfirmed, plan,
};
