import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { ConfirmDialog } from "../../components/confirm-dialog";
import { notifySuccess } from "../../components/notify";
import { useCurrentOrg } from "../orgs/org-context";
import { useLeaveOrg } from "./api";

/** Leaving = removing oneself; the last owner is refused by the server and the dialog shows why. */
export function LeaveOrgDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const { org, me } = useCurrentOrg();
  const leave = useLeaveOrg(org.id);
  const close = () => {
    leave.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      opened={opened}
      onClose={close}
      title={t("members.leave.title")}
      body={t("members.leave.body", { org: org.name })}
      confirmLabel={t("members.leave.confirm")}
      error={leave.error}
      pending={leave.isPending}
      onConfirm={async () => {
        // Not mutate's per-call callbacks: the refreshed membership list unmounts this dialog first.
        try {
          await leave.mutateAsync(me.user.id);
        } catch {
          return; // shown in the dialog
        }
        notifySuccess(t("members.leave.done", { org: org.name }));
        navigate("/", { replace: true });
      }}
    />
  );
}
