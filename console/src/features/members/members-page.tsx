import { ActionIcon, Badge, Button, Group, NativeSelect, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { ConfirmDialog } from "../../components/confirm-dialog";
import { IconDoorExit, IconMailPlus, IconUserMinus } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { Member, Role } from "../../api/types";
import { ErrorAlert, useErrorMessage } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifyError, notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import { InvitationsPanel } from "./invitations-panel";
import { InviteMemberDialog } from "./invite-member-dialog";
import { LeaveOrgDialog } from "./leave-org-dialog";
import { useChangeRole, useMembers, useRemoveMember } from "./api";

export function MembersPage() {
  const { role } = useCurrentOrg();
  if (!can.seeMembers(role)) return <Forbidden />;
  return <Members />;
}

function Members() {
  const { t } = useTranslation();
  const format = useFormat();
  const message = useErrorMessage();
  const { org, role, me } = useCurrentOrg();
  const members = useMembers(org.id);
  const changeRole = useChangeRole(org.id);
  const remove = useRemoveMember(org.id);
  const [inviting, setInviting] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const [removing, setRemoving] = useState<Member | null>(null);
  const manage = can.manageMembers(role);

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <Stack gap={4}>
          <Title order={1} size="h2">
            {t("members.title")}
          </Title>
          <Text c="dimmed" size="sm">
            {manage ? t("members.intro") : t("members.introReadOnly")}
          </Text>
        </Stack>
        {manage && (
          <Button leftSection={<IconMailPlus size={16} />} onClick={() => setInviting(true)}>
            {t("members.invite.open")}
          </Button>
        )}
      </Group>
      <Paper withBorder p="md" radius="md">
        {members.isPending ? (
          <PageLoader />
        ) : members.isError ? (
          <ErrorAlert error={members.error} />
        ) : (
          <Table.ScrollContainer minWidth={640}>
            <Table verticalSpacing="sm" aria-label={t("members.tableLabel")}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("members.fields.name")}</Table.Th>
                  <Table.Th>{t("members.fields.email")}</Table.Th>
                  <Table.Th>{t("members.fields.role")}</Table.Th>
                  <Table.Th>{t("members.fields.since")}</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">{t("members.actions")}</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {members.data.map((member) => {
                  const self = member.userId === me.user.id;
                  const editable = manage && !self && can.manageMember(role, member.role);
                  return (
                    <Table.Tr key={member.userId}>
                      <Table.Td>
                        <Group gap="xs">
                          <Text size="sm" fw={500}>
                            {member.name}
                          </Text>
                          {self && (
                            <Badge size="xs" variant="light">
                              {t("members.you")}
                            </Badge>
                          )}
                        </Group>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm">{member.email}</Text>
                      </Table.Td>
                      <Table.Td>
                        {editable ? (
                          <NativeSelect
                            aria-label={t("members.roleFor", { name: member.name })}
                            data={can.assignableRoles(role).map((r) => ({ value: r, label: t(`roles.${r}`) }))}
                            value={member.role}
                            size="xs"
                            w={140}
                            disabled={changeRole.isPending && changeRole.variables?.userId === member.userId}
                            onChange={(e) => {
                              const value = e.currentTarget.value;
                              if (!value || value === member.role) return;
                              changeRole.mutate(
                                { userId: member.userId, role: value as Role },
                                {
                                  onSuccess: () =>
                                    notifySuccess(t("members.roleChanged", { name: member.name, role: t(`roles.${value}`) })),
                                  onError: (error) => notifyError(t("members.roleChangeFailed"), message(error)),
                                },
                              );
                            }}
                          />
                        ) : (
                          <Badge variant="light" color={member.role === "owner" ? "grape" : "blue"}>
                            {t(`roles.${member.role}`)}
                          </Badge>
                        )}
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm">{format.date(member.createdAt)}</Text>
                      </Table.Td>
                      <Table.Td>
                        {editable && (
                          <ActionIcon
                            variant="subtle"
                            color="red"
                            aria-label={t("members.removeFor", { name: member.name })}
                            onClick={() => setRemoving(member)}
                          >
                            <IconUserMinus size={16} />
                          </ActionIcon>
                        )}
                        {self && (
                          <Button
                            variant="subtle"
                            color="red"
                            size="compact-sm"
                            leftSection={<IconDoorExit size={14} />}
                            title={t("members.leaveFor")}
                            onClick={() => setLeaving(true)}
                          >
                            {t("members.leave.open")}
                          </Button>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Paper>
      {manage && <InvitationsPanel />}
      {manage && <InviteMemberDialog opened={inviting} onClose={() => setInviting(false)} />}
      <LeaveOrgDialog opened={leaving} onClose={() => setLeaving(false)} />
      <ConfirmDialog
        opened={removing !== null}
        onClose={() => {
          remove.reset();
          setRemoving(null);
        }}
        title={t("members.remove.title")}
        body={removing ? t("members.remove.body", { name: removing.name, email: removing.email }) : ""}
        confirmLabel={t("members.remove.confirm")}
        error={remove.error}
        pending={remove.isPending}
        onConfirm={() => {
          if (!removing) return;
          remove.mutate(removing.userId, {
            onSuccess: () => {
              notifySuccess(t("members.remove.done", { name: removing.name }));
              setRemoving(null);
            },
          });
        }}
      />
    </Stack>
  );
}
