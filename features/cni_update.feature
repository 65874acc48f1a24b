# The manual's "CNI Plugin アップデート手順", done right: identity by sha256 and
# CNI_COMMAND=VERSION, a recorded backup (not a date-derived name), an atomic
# install, and two proofs: a new container pings the gateway, and a direct
# CNI ADD/CHECK/DEL cycle succeeds. Paths and the new build come from the
# inventory and the plan.
@component:cni
Feature: CNI plugin update
  The flatnet CNI plugin (and, if planned, its conflist) is replaced.
  If any step fails, the rollback below runs at once.

  @id:cni-update @rollback:cni-rollback
  Scenario: Update the CNI plugin
    # 事前準備 (preparation)
    Given the installed plugin's checksum and CNI versions are recorded
    And the containers running on the flatnet network are listed
    And the plugin and its conflist are backed up with checksums
    # アップデート実行 (update)
    When the new plugin is installed atomically
    And the conflist is updated if the plan changes it
    # 動作確認 (verification)
    Then the new plugin answers CNI_COMMAND=VERSION
    And a new container on the network pings the gateway, and a CNI ADD/CHECK/DEL cycle succeeds
    And the containers that keep the old network setup until they restart are reported

  @rollback-procedure @id:cni-rollback
  Scenario: Roll back the CNI plugin
    When the plugin and conflist are restored from the recorded backup
    Then they are identical to the backup and the network works again
