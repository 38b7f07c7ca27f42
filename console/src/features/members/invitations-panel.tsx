import { ActionIcon, Badge, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { IconMailOff } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import type { Invitation, InvitationStatus } from "../../api/types";
import { ConfirmDialog } from "../../components/confirm-dialog";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { useInvitations, useRevokeInvitation } from "./api";

const COLORS: Record<InvitationStatus, string> = {
  pending: "blue",
  accepted: "green",
  revoked: "red",
  expired: "orange",
};

/**
 * The organisation's invitations with status, expiry and inviter; pending ones can be revoked. Shown in
 * the API's order: pending first (the ones to act on), then newest first.
 */
export function InvitationsPanel() {
  const { t } = useTranslation();
  const format = useFormat();
  const { org, role } = useCurrentOrg();
  const invitations = useInvitations(org.id);
  const revoke = useRevokeInvitation(org.id);
  const [revoking, setRevoking] = useState<Invitation | null>(null);
  const closeRevoke = () => {
    revoke.reset();
    setRevoking(null);
  };

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="invitations-title">
      <Stack gap="sm">
        <Stack gap={4}>
          <Title order={2} size="h4" id="invitations-title">
            {t("members.invitations.title")}
          </Title>
          <Text c="dimmed" size="sm">
            {t("members.invitations.intro")}
          </Text>
        </Stack>
        {invitations.isPending ? (
          <PageLoader />
        ) : invitations.isError ? (
          <ErrorAlert error={invitations.error} />
        ) : invitations.data.length === 0 ? (
          <Text size="sm" c="dimmed">
            {t("members.invitations.empty")}
          </Text>
        ) : (
          <Table.ScrollContainer minWidth={720}>
            <Table verticalSpacing="sm" aria-label={t("members.invitations.tableLabel")}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("members.fields.email")}</Table.Th>
                  <Table.Th>{t("members.fields.role")}</Table.Th>
                  <Table.Th>{t("members.invitations.status")}</Table.Th>
                  <Table.Th>{t("members.invitations.expires")}</Table.Th>
                  <Table.Th>{t("members.invitations.invitedBy")}</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">{t("members.actions")}</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {invitations.data.map((invitation) => (
                  <Table.Tr key={invitation.id}>
                    <Table.Td>
                      <Text size="sm">{invitation.email}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{t(`roles.${invitation.role}`)}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Badge variant="light" color={COLORS[invitation.status]}>
                        {t(`members.invitations.statuses.${invitation.status}`)}
                      </Badge>
                    </Table.Td>
                    <Table.Td>
                      {invitation.status === "accepted" ? (
                        <Text size="sm" c="dimmed">
                          {t("members.invitations.acceptedOn", { date: format.date(invitation.acceptedAt) })}
                        </Text>
                      ) : (
                        <Text size="sm">{format.dateTime(invitation.expiresAt)}</Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{invitation.invitedBy.name ?? t("common.unknown")}</Text>
                      <Text size="xs" c="dimmed">
                        {format.date(invitation.createdAt)}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      {invitation.status === "pending" && can.manageMember(role, invitation.role) && (
                        <ActionIcon
                          variant="subtle"
                          color="red"
                          aria-label={t("members.invitations.revokeFor", { email: invitation.email })}
                          onClick={() => setRevoking(invitation)}
                        >
                          <IconMailOff size={16} />
                        </ActionIcon>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Stack>
      <ConfirmDialog
        opened={revoking !== null}
        onClose={closeRevoke}
        title={t("members.invitations.revokeTitle")}
        body={revoking ? t("members.invitations.revokeBody", { email: revoking.email }) : ""}
        confirmLabel={t("members.invitations.revoke")}
        error={revoke.error}
        pending={revoke.isPending}
        onConfirm={() => {
          if (!revoking) return;
          revoke.mutate(revoking.id, {
            onSuccess: () => {
              notifySuccess(t("members.invitations.revoked", { email: revoking.email }));
              setRevoking(null);
            },
          });
        }}
      />
    </Paper>
  );
}
