//! TODO module coordinator
