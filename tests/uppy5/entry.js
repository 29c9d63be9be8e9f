// The bundle the Uppy browser test loads (tests/test_browser_uppy.py): Uppy and its S3 plugin as
// globals, so the page can run the doc's code without a module loader.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

window.Uppy = Uppy;
window.AwsS3 = AwsS3;
