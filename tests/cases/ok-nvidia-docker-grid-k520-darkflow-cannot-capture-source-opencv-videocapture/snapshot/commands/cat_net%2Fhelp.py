    processed = self.framework.postprocess(net_out, frame, False)
    return timer() - start

def camera(self, file, SaveVideo):
    if file == 'camera':
        file = 0
    else:
        assert os.path.isfile(file), \
        'file {} does not exist'.format(file)
        
    camera = cv2.VideoCapture(file)
    self.say('Press [ESC] to quit demo')
    assert camera.isOpened(), \
    'Cannot capture source'

    elapsed = int()
    start = timer()
    
    cv2.namedWindow('', 0)
    _, frame = camera.read()
    height, width, _ = frame.shape
