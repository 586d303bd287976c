//! What the admin APIs see of a shard's groups: ListGroups, DescribeGroups (classic) and
//! ConsumerGroupDescribe (KIP-848).

use super::TopicLookup;
use super::classic::ClassicState;
use super::consumer::Assignment;
use super::shard::{GroupKind, Shard};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup as ConsumerDescribed, Member, TopicPartitions,
};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;

/// Kafka's "all operations" bitfield is not computed: no authorizer means every operation is
/// allowed, which Kafka reports as this sentinel when not asked.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

impl Shard {
    /// ListGroups entries of this shard, filtered by state and type (case-insensitive; empty
    /// filters match everything).
    pub fn list_groups(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        let wanted = |filter: &[String], value: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        let mut listed: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| wanted(states, g.state_name()) && wanted(types, g.type_name()))
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(g.id.clone())))
                    .with_protocol_type(s(g.protocol_type()))
                    .with_group_state(s(g.state_name()))
                    .with_group_type(s(g.type_name()))
            })
            .collect();
        listed.sort_by(|a, b| a.group_id.as_str().cmp(b.group_id.as_str()));
        listed
    }

    /// DescribeGroups of one group. Unknown (and KIP-848) groups are reported Dead, and from
    /// v6 with GROUP_ID_NOT_FOUND, as Kafka does.
    pub fn describe_group(&self, group_id: &str, version: i16) -> DescribedGroup {
        let base = DescribedGroup::default()
            .with_group_id(GroupId(s(group_id)))
            .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
        let not_found = |message: String| {
            let dead = base.clone().with_group_state(s(ClassicState::Dead.name()));
            if version >= 6 {
                dead.with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(s(message)))
            } else {
                dead
            }
        };
        let group = match self.groups.get(group_id).map(|g| &g.kind) {
            Some(GroupKind::Classic(g)) => g,
            Some(GroupKind::Consumer(_)) => {
                return not_found(format!("Group {group_id} is not a classic group."));
            }
            None => return not_found(format!("Group {group_id} not found.")),
        };
        let stable = group.state == ClassicState::Stable;
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let members = group
            .members
            .values()
            .map(|m| {
                let member = DescribedGroupMember::default()
                    .with_member_id(s(m.id.clone()))
                    .with_group_instance_id(m.instance_id.clone().map(s))
                    .with_client_id(s(m.client_id.clone()))
                    .with_client_host(s(m.client_host.clone()));
                // Metadata and assignment are only meaningful once the group is Stable.
                if stable {
                    member
                        .with_member_metadata(m.metadata_for(&protocol))
                        .with_member_assignment(m.assignment.clone())
                } else {
                    member
                }
            })
            .collect();
        base.with_group_state(s(group.state.name()))
            .with_protocol_type(s(group.protocol_type.clone().unwrap_or_default()))
            .with_protocol_data(s(if stable { protocol } else { String::new() }))
            .with_members(members)
    }

    /// ConsumerGroupDescribe of one group.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
        topics: &dyn TopicLookup,
    ) -> ConsumerDescribed {
        let base = ConsumerDescribed::default()
            .with_group_id(GroupId(s(group_id)))
            .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
        let not_found = |message: String| {
            base.clone()
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(s(message)))
        };
        let group = match self.groups.get(group_id).map(|g| &g.kind) {
            Some(GroupKind::Consumer(g)) => g,
            Some(GroupKind::Classic(_)) => {
                return not_found(format!("Group {group_id} is not a consumer group."));
            }
            None => return not_found(format!("Group {group_id} not found.")),
        };
        let described = |a: &Assignment| {
            DescribedAssignment::default().with_topic_partitions(
                a.iter()
                    .map(|(id, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(*id)
                            .with_topic_name(TopicName(s(topics.name_of(id).unwrap_or_default())))
                            .with_partitions(ps.iter().copied().collect())
                    })
                    .collect(),
            )
        };
        let members = group
            .members
            .values()
            .map(|m| {
                Member::default()
                    .with_member_id(s(m.id.clone()))
                    .with_instance_id(m.instance_id.clone().map(s))
                    .with_rack_id(m.rack_id.clone().map(s))
                    .with_member_epoch(m.epoch)
                    .with_client_id(s(m.client_id.clone()))
                    .with_client_host(s(m.client_host.clone()))
                    .with_subscribed_topic_names(
                        m.subscribed_topics
                            .iter()
                            .map(|t| TopicName(s(t.clone())))
                            .collect(),
                    )
                    .with_subscribed_topic_regex(m.subscribed_regex.clone().map(s))
                    .with_assignment(described(&m.assigned))
                    .with_target_assignment(described(
                        group.target.get(&m.id).unwrap_or(&Assignment::new()),
                    ))
                    .with_member_type(1)
            })
            .collect();
        base.with_group_state(s(group.state().name()))
            .with_group_epoch(group.group_epoch)
            .with_assignment_epoch(group.assignment_epoch)
            .with_assignor_name(s(group.assignor_name()))
            .with_members(members)
    }
}
