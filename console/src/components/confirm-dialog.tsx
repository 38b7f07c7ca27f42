import { Button, Group, Stack, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Dialog } from "./dialog";
import { ErrorAlert } from "./error-alert";

export interface ConfirmDialogProps {
  opened: boolean;
  title: string;
  /** What will happen, in one or two sentences. */
  body: string;
  /** The red button's label: the action itself ("Revoke", "Leave"), never "OK". */
  confirmLabel: string;
  /** The last attempt's error, shown above the buttons (the dialog stays open so the person can read it). */
  error: unknown;
  pending: boolean;
  onConfirm: () => void;
  /** Cancel, Escape or the close button; callers reset their mutation here. */
  onClose: () => void;
}

/**
 * A destructive action's confirmation: what happens, the error if it was refused, Cancel (focused first,
 * so Enter does not confirm by accident) and the action in red.
 */
export function ConfirmDialog({ opened, title, body, confirmLabel, error, pending, onConfirm, onClose }: ConfirmDialogProps) {
  const { t } = useTranslation();
  return (
    <Dialog opened={opened} onClose={onClose} title={title}>
      <Stack>
        <Text size="sm">{body}</Text>
        <ErrorAlert error={error} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose} data-autofocus>
            {t("common.cancel")}
          </Button>
          <Button color="red" loading={pending} onClick={onConfirm}>
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Dialog>
  );
}
