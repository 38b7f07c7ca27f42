import { ActionIcon, Button, CopyButton as MantineCopyButton } from "@mantine/core";
import { IconCheck, IconCopy } from "@tabler/icons-react";
import type { Ref } from "react";
import { useTranslation } from "react-i18next";

/** Copies `value` with `navigator.clipboard` (through Mantine's CopyButton). */
export function CopyIconButton({ value, label }: { value: string; label: string }) {
  const { t } = useTranslation();
  return (
    <MantineCopyButton value={value} timeout={2000}>
      {({ copied, copy }) => (
        // A native title rather than a Tooltip (floating-ui stays off the first screen); "Copied" is
        // announced through the live region.
        <>
          <ActionIcon
            variant="subtle"
            color={copied ? "teal" : "gray"}
            onClick={copy}
            aria-label={label}
            title={label}
            size="sm"
          >
            {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
          </ActionIcon>
          <span className="visually-hidden" aria-live="polite">
            {copied ? t("common.copied") : ""}
          </span>
        </>
      )}
    </MantineCopyButton>
  );
}

export function CopyTextButton({ value, label, ref }: { value: string; label: string; ref?: Ref<HTMLButtonElement> }) {
  const { t } = useTranslation();
  return (
    <MantineCopyButton value={value} timeout={2500}>
      {({ copied, copy }) => (
        <Button
          ref={ref}
          onClick={copy}
          color={copied ? "teal" : "blue"}
          leftSection={copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
        >
          {copied ? t("common.copied") : label}
        </Button>
      )}
    </MantineCopyButton>
  );
}
